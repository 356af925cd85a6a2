/** Where to put a new node: near where the person is looking, without covering another node. */

export interface Box {
  x: number;
  y: number;
  width: number;
  height: number;
}

/** A node's size before React Flow has measured it. */
export const NODE_SIZE = { width: 230, height: 120 };
const GAP = 24;
const STEP = 60;

function overlaps(a: Box, b: Box): boolean {
  return a.x < b.x + b.width + GAP && b.x < a.x + a.width + GAP && a.y < b.y + b.height + GAP && b.y < a.y + a.height + GAP;
}

/**
 * The first free spot for a box of `size` on rings around `at` (its top-left corner), trying
 * places to the right and below first; `at` itself when nothing is in the way.
 */
export function freeSpot(taken: Box[], at: { x: number; y: number }, size = NODE_SIZE): { x: number; y: number } {
  const fits = (x: number, y: number): boolean => !taken.some((box) => overlaps({ x, y, ...size }, box));
  if (fits(at.x, at.y)) return { x: Math.round(at.x), y: Math.round(at.y) };
  for (let ring = 1; ring <= 12; ring += 1) {
    for (let dy = 0; dy <= ring; dy += 1) {
      for (const [sx, sy] of [
        [1, 1],
        [-1, 1],
        [1, -1],
        [-1, -1],
      ] as const) {
        const candidates = [
          [ring, dy],
          [dy, ring],
        ];
        for (const [cx, cy] of candidates) {
          const x = at.x + sx * cx * STEP * 2;
          const y = at.y + sy * cy * STEP;
          if (fits(x, y)) return { x: Math.round(x), y: Math.round(y) };
        }
      }
    }
  }
  return { x: Math.round(at.x), y: Math.round(at.y) };
}
