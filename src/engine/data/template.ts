// The LLM-Adapters prompt template (AGI-Edgerunners/LLM-Adapters, finetune.py generate_prompt), used for
// training and evaluating on their commonsense JSON sets.

const HEADER_NO_INPUT = 'Below is an instruction that describes a task. Write a response that appropriately completes the request.';
const HEADER_WITH_INPUT =
  'Below is an instruction that describes a task, paired with an input that provides further context. Write a response that appropriately completes the request.';

/** The prompt up to and including "### Response:\n" (the part the loss ignores). */
export function llmAdaptersPrompt(instruction: string, input: string): string {
  return input.length > 0
    ? `${HEADER_WITH_INPUT}\n\n### Instruction:\n${instruction}\n\n### Input:\n${input}\n\n### Response:\n`
    : `${HEADER_NO_INPUT}\n\n### Instruction:\n${instruction}\n\n### Response:\n`;
}

/** Prompt followed by the response (the training text). */
export function llmAdaptersText(instruction: string, input: string, output: string): string {
  return `${llmAdaptersPrompt(instruction, input)}${output}`;
}

/**
 * The answer labels listed by the instruction's final "Answer format: a/b/c" line (every LLM-Adapters
 * commonsense set has one: true/false, answer1..answer5, solution1/solution2, option1/option2, ending1..ending4).
 * Returns undefined when the line is missing.
 */
export function answerChoices(instruction: string): string[] | undefined {
  const match = /Answer format:\s*([^\n]+)\s*$/.exec(instruction);
  if (match === null) return undefined;
  const choices = (match[1] ?? '').split('/').map((c) => c.trim()).filter((c) => c.length > 0);
  return choices.length >= 2 ? choices : undefined;
}

/** The response text LLM-Adapters trains on for a label ("the correct answer is <label>"). */
export function answerResponse(label: string): string {
  return `the correct answer is ${label}`;
}
