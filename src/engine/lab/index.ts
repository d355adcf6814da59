// The built-in lab: a generated world of people (world.ts), its pretraining corpus (biographies.ts), downstream
// tasks (labTasks.ts), tokenizer (labTokenizer.ts), model (labModel.ts, pretrain.ts), knowledge probe (probe.ts),
// and the experiments the demo and the comparison run (labExperiments.ts, labResults.ts).
export * from './world';
export * from './biographies';
export * from './labTasks';
export * from './labTokenizer';
export * from './labModel';
export * from './probe';
export * from './labExperiments';
export * from './labResults';
