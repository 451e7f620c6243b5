// Milestones of a console connecting, on the browser's performance timeline: they show up in
// DevTools' Performance panel, and the time-to-first-frame benchmark reads them, so a slow
// connect can be traced to its step (redeem, socket, offer, answer, ICE, first frame).
export function mark(name) {
  try {
    performance.mark(`kvm:${name}`);
  } catch {
    // A browser without User Timing: nothing to record.
  }
}
