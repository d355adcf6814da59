// The lab's offsite configs use the emulator budgets of LAB_EMULATOR (the demo's GradOT gap was measured with
// them): the compressing emulators keep its rank and channel ratios, the layer-dropping ones its kept layers,
// and every demo and compare config validates.
import { strict as assert } from 'node:assert';
import { validateConfigText } from '../../../src/engine/config';
import { compareExperiments, DEMO_EXPERIMENTS, DEMO_SETTINGS, LAB_EMULATOR, labExperimentConfig } from '../../../src/engine/lab/labExperiments';

interface EmulatorBlock { method: string; attentionRankRatio?: number; mlpChannelRatio?: number; keepLayers?: number }

function emulatorOf(config: Record<string, unknown>): EmulatorBlock {
  return (config.offsite as { emulator: EmulatorBlock }).emulator;
}

describe('lab experiment configs', () => {
  it('the demo compresses with LAB_EMULATOR: gradot at its rank and channel ratios, uniform-drop keeping its layers', () => {
    assert.deepEqual(LAB_EMULATOR, { attentionRankRatio: 0.03, mlpChannelRatio: 0.03, keepLayers: 1 });
    const offsite = DEMO_EXPERIMENTS.filter((e) => e.kind === 'offsite');
    assert.deepEqual(offsite.map((e) => e.method), ['gradot', 'uniform-drop']);
    const [gradot, drop] = offsite.map((e) => emulatorOf(labExperimentConfig(e, DEMO_SETTINGS)));
    assert.deepEqual([gradot?.attentionRankRatio, gradot?.mlpChannelRatio], [LAB_EMULATOR.attentionRankRatio, LAB_EMULATOR.mlpChannelRatio]);
    assert.equal(drop?.keepLayers, LAB_EMULATOR.keepLayers);
  });

  it('the compare\'s layer-dropping emulators (uniform-drop, crash, ot) keep the same number of middle layers', () => {
    const dropping = compareExperiments([0]).filter((e) => e.kind === 'offsite' && ['uniform-drop', 'crash', 'ot'].includes(e.method));
    assert.equal(new Set(dropping.map((e) => e.name)).size, 3);
    for (const e of dropping) assert.equal(emulatorOf(labExperimentConfig(e, DEMO_SETTINGS)).keepLayers, LAB_EMULATOR.keepLayers, e.name);
  });

  it('every demo and compare config validates', () => {
    for (const e of [...DEMO_EXPERIMENTS, ...compareExperiments([0])]) {
      const v = validateConfigText(JSON.stringify(labExperimentConfig(e, DEMO_SETTINGS)), `${e.name}.peft.json`);
      assert.ok(v.ok, `${e.name}: ${JSON.stringify(v)}`);
    }
  });
});
