/** What a CLI command is. */

/** A CLI command. */
export interface Command {
  /** The command word (`plan`, `materialize`, `entities`, ...). */
  readonly name: string;
  /** One line for the command list. */
  readonly summary: string;
  /** The full `--help` text. */
  readonly help: string;
  /** `--help` goes to {@linkcode Command.run}, which prints its own (and `help` is a summary). */
  readonly handlesHelp?: boolean;
  /** Runs the command; returns the exit code. */
  run(argv: readonly string[]): Promise<number>;
}
