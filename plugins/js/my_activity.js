// The same function under a custom activity type: export it under that name.
async function sayHelloActivity(name) {
  return `Hello, ${name}!`;
}

export { sayHelloActivity as 'my-activity' };
