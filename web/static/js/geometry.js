// Where the picture is inside the <video> element. With object-fit: contain the frame is scaled
// to fit and centred, and the rest of the element is letterbox bars; a pointer position must be
// mapped through this content rectangle so that a click lands on the remote pixel under it.
import { ABS_MAX } from "./hidproto.js";

/** The content rectangle of a video element in client (CSS px) coordinates, or null when
 * there is no frame yet. */
export function contentRect(video) {
  const vw = video.videoWidth;
  const vh = video.videoHeight;
  if (!vw || !vh) return null;
  const box = video.getBoundingClientRect();
  if (box.width <= 0 || box.height <= 0) return null;
  const scale = Math.min(box.width / vw, box.height / vh);
  const width = vw * scale;
  const height = vh * scale;
  return {
    left: box.left + (box.width - width) / 2,
    top: box.top + (box.height - height) / 2,
    width,
    height,
  };
}

/**
 * Maps a client position to absolute pointer coordinates 0…ABS_MAX. Outside the content
 * rectangle it returns null, or with clamp the nearest edge (a drag that leaves the picture
 * keeps pushing against the remote screen's border, as a real mouse would).
 */
export function mapPointer(video, clientX, clientY, clamp = false) {
  const r = contentRect(video);
  if (!r) return null;
  let u = (clientX - r.left) / r.width;
  let v = (clientY - r.top) / r.height;
  if (clamp) {
    u = Math.min(1, Math.max(0, u));
    v = Math.min(1, Math.max(0, v));
  } else if (!(u >= 0 && u <= 1 && v >= 0 && v <= 1)) {
    return null;
  }
  return { x: Math.round(u * ABS_MAX), y: Math.round(v * ABS_MAX) };
}
