// The Temporal docs' your_activity, in TypeScript: one structured parameter.
export interface YourParams {
  greeting: string;
  name: string;
}

export async function your_activity(input: YourParams): Promise<string> {
  return `${input.greeting}, ${input.name}!`;
}
