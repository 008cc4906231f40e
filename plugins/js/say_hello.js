// The Temporal docs' say_hello_activity, in the TypeScript SDK's style:
// the exported function is the activity, its name the activity type.
export async function say_hello_activity(name) {
  return `Hello, ${name}!`;
}
