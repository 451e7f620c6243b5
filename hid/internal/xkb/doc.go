// Package xkb reads the X keyboard configuration that kvmrelay's keyboard layout tables are
// generated from: keymaps as libxkbcommon compiles them (xkbcli compile-keymap), keysym names
// and their Unicode characters (X11/keysymdef.h) and dead-key compositions (the en_US.UTF-8
// Compose file). It is used by the generator and by the tests that check the tables against
// the installed xkeyboard-config, never at run time.
package xkb
