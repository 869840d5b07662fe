// Exit codes of the `keyplane` command (docs/cli.md).
export const EXIT_OK = 0;
export const EXIT_FAILURE = 1; // runtime failure: a device, socket or peer did not cooperate
export const EXIT_USAGE = 2; // bad command line or bad config file: fix the input and retry
