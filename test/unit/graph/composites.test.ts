// Forward values of the composite helpers against direct TypeScript evaluations of their formulas.
import * as assert from 'node:assert/strict';
import { applyRope, gelu, GraphBuilder, rmsNorm, ropeTables } from '../../../src/engine/graph';
import { feed, numbers, randomValues, rng, session } from './ortHarness';

describe('graph: composite helpers compute their formulas', () => {
  it('RoPE rotate-half: (x1, x2) -> (x1 cos - x2 sin, x2 cos + x1 sin) with angle t * base^(-2i/d)', async () => {
    const T = 3, Dh = 4, base = 10000;
    const xv = randomValues(T * Dh, rng(21));
    const b = new GraphBuilder();
    const x = b.input('x', 'float64', [1, T, Dh]);
    const { cos, sin } = ropeTables(b, T, Dh, 'float64', base);
    b.output(applyRope(b, x, cos, sin), 'y');
    const y = numbers((await (await session(b)).run({ x: feed('float64', [1, T, Dh], xv) })).y, 'y');
    for (let t = 0; t < T; t++) {
      for (let i = 0; i < Dh / 2; i++) {
        const angle = t * base ** (-(2 * i) / Dh);
        const x1 = xv[t * Dh + i], x2 = xv[t * Dh + i + Dh / 2];
        assert.ok(Math.abs(y[t * Dh + i] - (x1 * Math.cos(angle) - x2 * Math.sin(angle))) < 1e-14);
        assert.ok(Math.abs(y[t * Dh + i + Dh / 2] - (x2 * Math.cos(angle) + x1 * Math.sin(angle))) < 1e-14);
      }
    }
  });

  it('tanh-GELU and RMSNorm', async () => {
    const xv = randomValues(8, rng(22), -3, 3);
    const gv = randomValues(4, rng(23));
    const b = new GraphBuilder();
    const x = b.input('x', 'float64', [2, 4]);
    const g = b.input('g', 'float64', [4]);
    b.output(gelu(b, x), 'gelu');
    b.output(rmsNorm(b, x, g, 1e-6), 'rms');
    const out = await (await session(b)).run({ x: feed('float64', [2, 4], xv), g: feed('float64', [4], gv) });
    const ge = numbers(out.gelu, 'gelu');
    const rms = numbers(out.rms, 'rms');
    xv.forEach((v, i) => {
      const expected = 0.5 * v * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (v + 0.044715 * v ** 3)));
      assert.ok(Math.abs(ge[i] - expected) < 1e-14);
    });
    for (let r = 0; r < 2; r++) {
      const row = xv.slice(r * 4, r * 4 + 4);
      const inv = 1 / Math.sqrt(row.reduce((s, v) => s + v * v, 0) / 4 + 1e-6);
      row.forEach((v, j) => assert.ok(Math.abs(rms[r * 4 + j] - v * inv * gv[j]) < 1e-13));
    }
  });
});
