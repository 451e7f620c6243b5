// What just happened on a shared console, said from this participant's point of view: "Bob took
// control from you", "Alice asks for control", "Your request was declined", "Carol left".
// Names only, never session ids: an unknown session is "Someone".

/**
 * eventText(event, view): the sentence for a roster event, or null when there is nothing to say
 * (this console's own arrival). view: {me: this console's sid, name(sid), grantOf(sid): the grant
 * in the new roster, controller: the sid in control now ("" for nobody)}.
 */
export function eventText(event, view) {
  if (!event) return null;
  const { me } = view;
  const self = (sid) => sid !== "" && sid === me;
  const who = (sid) => (self(sid) ? "you" : view.name(sid));
  const Who = (sid) => (self(sid) ? "You" : view.name(sid));
  const subject = event.subject;
  const by = event.by;
  const because = event.reason ? `: ${event.reason}` : "";
  switch (event.kind) {
    case "joined":
      return self(subject) ? null : `${view.name(subject)} joined`;
    case "left":
      return self(subject) ? null : `${view.name(subject)} left`;
    case "requested":
      if (self(subject)) return `You asked ${controllerName(view)} for control`;
      return `${view.name(subject)} asks for control`;
    case "cancelled":
      if (self(subject)) return "You withdrew your request for control";
      return `${view.name(subject)} withdrew the request for control`;
    case "granted":
      if (self(subject)) return by && !self(by) ? `${view.name(by)} gave you control` : "You are in control";
      if (self(by)) return `You gave control to ${view.name(subject)}`;
      return by ? `${view.name(by)} gave control to ${view.name(subject)}` : `${view.name(subject)} is in control`;
    case "declined":
      if (self(subject)) return "Your request was declined";
      if (self(by)) return `You declined ${view.name(subject)}'s request`;
      return `${view.name(by)} declined ${view.name(subject)}'s request`;
    case "timed-out":
      if (self(subject)) return "Your request timed out: it was not answered in time";
      return `${view.name(subject)}'s request for control timed out`;
    case "released":
      if (self(subject)) return event.reason ? `You lost control${because}` : "You released control";
      return event.reason
        ? `${view.name(subject)} lost control${because}`
        : `${view.name(subject)} released control: nobody is in control`;
    case "taken":
      if (self(subject)) return `${Who(by)} took control from you`;
      return `${Who(by)} took control from ${who(subject)}`;
    case "regranted":
      return `${self(subject) ? "You" : view.name(subject)} ${ability(view.grantOf(subject), self(subject))}${because}`;
    default:
      return null;
  }
}

function controllerName(view) {
  return view.controller && view.controller !== view.me ? view.name(view.controller) : "the controller";
}

// What a participant may do after a grant change, for "regranted".
function ability(grant, you) {
  switch (grant) {
    case "view":
      return "can now only watch (view only)";
    case "admin":
      return "can now take control";
    case "control":
      return "can now ask for control";
    default:
      return you ? "have new rights" : "has new rights";
  }
}
