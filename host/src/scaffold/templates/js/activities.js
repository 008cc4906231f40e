// {{name}}: Temporal activities, built into a WebAssembly plugin for activity-host.
//
// Written against the Temporal TypeScript SDK: the same code runs in a native
// worker. Every exported function is an activity, named after its export.
import { log } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';

// A workflow calls it with one argument, {"greeting": "Hello", "name": "World"}.
export async function composeGreeting(input) {
  if (!input.name) {
    throw ApplicationFailure.create({ message: 'no name to greet', type: 'InvalidInput', nonRetryable: true });
  }
  log.info(`greeting ${input.name}`);
  return `${input.greeting}, ${input.name}!`;
}
