// What each role may do: the role matrix of control/accounts (principal.go), so the dashboard
// hides what a role cannot do. The API enforces it regardless; a test keeps the two equal.

export const ACTIONS = Object.freeze([
  "manage_org",
  "manage_users",
  "manage_devices",
  "manage_api_keys",
  "console_control",
  "console_view",
  "read_audit",
  "read_devices",
  "console_take",
  "read_recordings",
]);

const VIEWER = ["console_view", "read_devices"];
const OPERATOR = [...VIEWER, "console_control"];
const ADMIN = [...OPERATOR, "manage_users", "manage_devices", "manage_api_keys", "read_audit", "console_take", "read_recordings"];

const MATRIX = Object.freeze({
  owner: new Set([...ADMIN, "manage_org"]),
  admin: new Set(ADMIN),
  operator: new Set(OPERATOR),
  viewer: new Set(VIEWER),
  auditor: new Set(["read_audit", "read_recordings"]),
});

/** Whether role may do action; an unknown role may do nothing. */
export function can(role, action) {
  return Object.hasOwn(MATRIX, role) && MATRIX[role].has(action);
}
