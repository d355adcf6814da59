/**
 * Data sets: readers (LLM-Adapters JSON with its prompt template, JSONL text, plain text, pre-tokenized JSONL),
 * and seeded shuffled batches with right padding and next-token targets.
 *
 *   const examples = readExamples(file, 'llm-adapters', { maxLength: 256, limit: 0, trainOnInputs: true }, tokenizer);
 *   const stream = new ExampleStream(examples.length, seed);  const idx = stream.next(batchSize);
 *   const batch = makeBatch(idx.map((i) => examples[i]), seq, padId);
 */
export {
  IGNORE_INDEX, instructionExample, readChoiceItems, readExamples, readInstructionRecords,
  type ChoiceItem, type DataFormat, type InstructionRecord, type ReadOptions, type TextEncoder, type TokenExample,
} from './examples';
export { ExampleStream, derivedRng, makeBatch, RNG_TAGS, type TrainBatch } from './batches';
export { answerChoices, answerResponse, llmAdaptersEvalPrompt, llmAdaptersPrompt, llmAdaptersText } from './template';
