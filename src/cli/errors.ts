/**
 * An error in what the user gave us (arguments, files, prompts). The CLI
 * prints its message on one line and exits with code 2; the API answers 4xx.
 */
export class InputError extends Error {
  override name = 'InputError';
  constructor(
    message: string,
    readonly code = 'invalid_input',
  ) {
    super(message);
  }
}
