// speedtest-net 2.2.0 ships no types. This declares only what app/src/speedtest/ookla uses, as
// read from its index.js: the CLI's JSON lines are passed through with `timestamp` turned into a
// Date, so the shapes of events and the result are left to the engine to validate.
declare module 'speedtest-net' {
  /**
   * The CLI's `result` line without `type`; undefined when the CLI exited without printing one
   * and without an error line.
   */
  function speedTest(
    options?: speedTest.SpeedTestOptions,
  ): Promise<Record<string, unknown> | undefined>;

  namespace speedTest {
    /** Made by makeCancel(); calling it kills the CLI and rejects with "Test aborted". */
    type Canceler = (...args: unknown[]) => unknown;

    interface SpeedTestOptions {
      /** The Ookla CLI to run. Without it the package downloads one at run time. */
      binary?: string;
      acceptLicense?: boolean;
      acceptGdpr?: boolean;
      /** Passed as `-s`; must be a string, it goes straight into the argument list. */
      serverId?: string;
      sourceIp?: string;
      host?: string;
      /** Also adds `-p` to the CLI's arguments. */
      progress?: (event: SpeedTestEvent) => void;
      cancel?: Canceler;
      binaryVersion?: string;
      verbosity?: number;
    }

    interface SpeedTestEvent {
      type?: string;
      /** Overall progress, 0 to 1. */
      progress: number;
      timestamp?: Date;
      [key: string]: unknown;
    }

    function makeCancel(): Canceler;
    const defaultBinaryVersion: string;
  }

  export = speedTest;
}
