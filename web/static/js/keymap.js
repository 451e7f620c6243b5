// KeyboardEvent.code → USB HID usage ID on the keyboard/keypad page (0x07), per the USB HID
// Usage Tables §10 and the UI Events KeyboardEvent code spec. `code` names a physical key
// position, not a character, so the mapping is independent of the local keyboard layout: the
// remote machine applies its own layout, as it would with a real USB keyboard.
//
// This is one plain object on purpose: web/web_test.go checks that it equals, entry by entry,
// the Go table hid.CodeToUsage (exported to hid/testdata/codes.json). Change both together.
export const KEYMAP = Object.freeze({
  // Letters.
  KeyA: 0x04, KeyB: 0x05, KeyC: 0x06, KeyD: 0x07, KeyE: 0x08, KeyF: 0x09, KeyG: 0x0a,
  KeyH: 0x0b, KeyI: 0x0c, KeyJ: 0x0d, KeyK: 0x0e, KeyL: 0x0f, KeyM: 0x10, KeyN: 0x11,
  KeyO: 0x12, KeyP: 0x13, KeyQ: 0x14, KeyR: 0x15, KeyS: 0x16, KeyT: 0x17, KeyU: 0x18,
  KeyV: 0x19, KeyW: 0x1a, KeyX: 0x1b, KeyY: 0x1c, KeyZ: 0x1d,

  // Digit row.
  Digit1: 0x1e, Digit2: 0x1f, Digit3: 0x20, Digit4: 0x21, Digit5: 0x22,
  Digit6: 0x23, Digit7: 0x24, Digit8: 0x25, Digit9: 0x26, Digit0: 0x27,

  Enter: 0x28, Escape: 0x29, Backspace: 0x2a, Tab: 0x2b, Space: 0x2c,
  Minus: 0x2d, Equal: 0x2e, BracketLeft: 0x2f, BracketRight: 0x30, Backslash: 0x31,
  Semicolon: 0x33, Quote: 0x34, Backquote: 0x35,
  Comma: 0x36, Period: 0x37, Slash: 0x38, CapsLock: 0x39,

  // Function keys.
  F1: 0x3a, F2: 0x3b, F3: 0x3c, F4: 0x3d, F5: 0x3e, F6: 0x3f,
  F7: 0x40, F8: 0x41, F9: 0x42, F10: 0x43, F11: 0x44, F12: 0x45,
  F13: 0x68, F14: 0x69, F15: 0x6a, F16: 0x6b, F17: 0x6c, F18: 0x6d,
  F19: 0x6e, F20: 0x6f, F21: 0x70, F22: 0x71, F23: 0x72, F24: 0x73,

  PrintScreen: 0x46, ScrollLock: 0x47, Pause: 0x48,

  // Navigation block.
  Insert: 0x49, Home: 0x4a, PageUp: 0x4b, Delete: 0x4c, End: 0x4d, PageDown: 0x4e,
  ArrowRight: 0x4f, ArrowLeft: 0x50, ArrowDown: 0x51, ArrowUp: 0x52,

  // Keypad.
  NumLock: 0x53, NumpadDivide: 0x54, NumpadMultiply: 0x55, NumpadSubtract: 0x56,
  NumpadAdd: 0x57, NumpadEnter: 0x58,
  Numpad1: 0x59, Numpad2: 0x5a, Numpad3: 0x5b, Numpad4: 0x5c, Numpad5: 0x5d,
  Numpad6: 0x5e, Numpad7: 0x5f, Numpad8: 0x60, Numpad9: 0x61, Numpad0: 0x62,
  NumpadDecimal: 0x63, NumpadEqual: 0x67, NumpadComma: 0x85,
  NumpadParenLeft: 0xb6, NumpadParenRight: 0xb7,

  // ISO and East Asian keys: the extra key left of Z on ISO keyboards, the JIS ろ and ¥ keys,
  // and the input-method keys of Japanese and Korean keyboards.
  IntlBackslash: 0x64, IntlRo: 0x87, IntlYen: 0x89,
  KanaMode: 0x88, Convert: 0x8a, NonConvert: 0x8b,
  Lang1: 0x90, Lang2: 0x91, Lang3: 0x92, Lang4: 0x93, Lang5: 0x94,

  // Media and editing keys that live on the keyboard page. VolumeMute, VolumeUp and VolumeDown
  // are the names older Firefox versions send.
  AudioVolumeMute: 0x7f, AudioVolumeUp: 0x80, AudioVolumeDown: 0x81,
  VolumeMute: 0x7f, VolumeUp: 0x80, VolumeDown: 0x81,
  Power: 0x66, Open: 0x74, Help: 0x75, Select: 0x77, Again: 0x79,
  Undo: 0x7a, Cut: 0x7b, Copy: 0x7c, Paste: 0x7d, Find: 0x7e,

  ContextMenu: 0x65,

  // Modifiers.
  ControlLeft: 0xe0, ShiftLeft: 0xe1, AltLeft: 0xe2, MetaLeft: 0xe3,
  ControlRight: 0xe4, ShiftRight: 0xe5, AltRight: 0xe6, MetaRight: 0xe7,
  OSLeft: 0xe3, OSRight: 0xe7, // the names older Firefox versions send for the Meta keys
});

/** The usage ID for a KeyboardEvent.code, or null when the key has no place on the remote. */
export function usageFor(code) {
  return Object.hasOwn(KEYMAP, code) ? KEYMAP[code] : null;
}
