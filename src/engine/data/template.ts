// The prompt templates of the IST authors' harness (antgroup/importance-aware-sparse-tuning-IST-paper, copied
// from AGI-Edgerunners/LLM-Adapters): finetune.py's generate_prompt for training, commonsense_evaluate.py's for
// generation. Their f-strings sit inside indented Python code, so every line after the header carries that code's
// 16 spaces, and the header ends in trailing spaces that differ between the two scripts (training: one with an
// input, two without; evaluation: none with an input, one without). Kept as written, since a SentencePiece
// tokenizer turns the spaces into tokens the model is trained and evaluated on.

const INDENT = '                ';
const HEADER_NO_INPUT = 'Below is an instruction that describes a task. Write a response that appropriately completes the request.';
const HEADER_WITH_INPUT =
  'Below is an instruction that describes a task, paired with an input that provides further context. Write a response that appropriately completes the request.';

function body(instruction: string, input: string, response: string): string {
  const inputBlock = input.length > 0 ? `${INDENT}### Input:\n${INDENT}${input}\n\n` : '';
  return `${INDENT}### Instruction:\n${INDENT}${instruction}\n\n${inputBlock}${INDENT}### Response:\n${INDENT}${response}`;
}

/** finetune.py's generate_prompt: the training text (prompt followed by the response). */
export function llmAdaptersText(instruction: string, input: string, output: string): string {
  const header = input.length > 0 ? `${HEADER_WITH_INPUT} ` : `${HEADER_NO_INPUT}  `;
  return `${header}\n\n${body(instruction, input, output)}`;
}

/**
 * The training text with an empty response, as finetune.py tokenizes it to find the prompt's length when
 * train_on_inputs=False; also the prefix that likelihood scoring continues with a response.
 */
export function llmAdaptersPrompt(instruction: string, input: string): string {
  return llmAdaptersText(instruction, input, '');
}

/** commonsense_evaluate.py's generate_prompt: what generation-based evaluation continues. */
export function llmAdaptersEvalPrompt(instruction: string, input: string): string {
  const header = input.length > 0 ? HEADER_WITH_INPUT : `${HEADER_NO_INPUT} `;
  return `${header}\n\n${body(instruction, input, '')}`;
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
