/** A connected region of grid cells with its bounding cells (inclusive). */
export interface CellRegion {
  cells: number[];
  x0: number;
  y0: number;
  x1: number;
  y1: number;
}

/**
 * The 8-connected region of cells for which `inside` holds, grown from
 * `start` on a cols x rows grid; marks its cells in `seen`.
 */
export function floodRegion8(start: number, cols: number, rows: number, inside: (cell: number) => boolean, seen: Uint8Array): CellRegion {
  const region: CellRegion = { cells: [], x0: cols, y0: rows, x1: -1, y1: -1 };
  const stack = [start];
  seen[start] = 1;
  while (stack.length) {
    const cell = stack.pop()!;
    const x = cell % cols;
    const y = (cell - x) / cols;
    region.cells.push(cell);
    region.x0 = Math.min(region.x0, x);
    region.x1 = Math.max(region.x1, x);
    region.y0 = Math.min(region.y0, y);
    region.y1 = Math.max(region.y1, y);
    for (let ny = Math.max(0, y - 1); ny <= Math.min(rows - 1, y + 1); ny++) {
      for (let nx = Math.max(0, x - 1); nx <= Math.min(cols - 1, x + 1); nx++) {
        const n = ny * cols + nx;
        if (!seen[n] && inside(n)) {
          seen[n] = 1;
          stack.push(n);
        }
      }
    }
  }
  return region;
}
