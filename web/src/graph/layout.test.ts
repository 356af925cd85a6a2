import { describe, expect, it } from "vitest";
import { freeSpot, NODE_SIZE } from "./layout";

describe("freeSpot", () => {
  it("keeps the spot asked for when it is free", () => {
    expect(freeSpot([], { x: 10.4, y: 20.6 })).toEqual({ x: 10, y: 21 });
    expect(freeSpot([{ x: 1000, y: 1000, ...NODE_SIZE }], { x: 0, y: 0 })).toEqual({ x: 0, y: 0 });
  });

  it("moves off a node in the way, and off the next one too", () => {
    const first = { x: 0, y: 0, ...NODE_SIZE };
    const spot = freeSpot([first], { x: 0, y: 0 });
    expect(spot).not.toEqual({ x: 0, y: 0 });
    const second = { ...spot, ...NODE_SIZE };
    const third = freeSpot([first, second], { x: 0, y: 0 });
    for (const box of [first, second]) {
      const apart =
        third.x >= box.x + box.width ||
        box.x >= third.x + NODE_SIZE.width ||
        third.y >= box.y + box.height ||
        box.y >= third.y + NODE_SIZE.height;
      expect(apart).toBe(true);
    }
  });
});
