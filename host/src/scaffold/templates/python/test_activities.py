"""The activities under the real Temporal Python SDK's ActivityEnvironment,
as the Temporal docs test activities. Files named test_*.py are not bundled
into the plugin."""

import unittest

from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities import ComposeGreetingInput, compose_greeting


class ComposeGreetingTest(unittest.IsolatedAsyncioTestCase):
    async def test_composes_the_greeting(self):
        result = await ActivityEnvironment().run(compose_greeting, ComposeGreetingInput("Hello", "World"))
        self.assertEqual(result, "Hello, World!")

    async def test_an_empty_name_fails_for_good(self):
        with self.assertRaises(ApplicationError) as raised:
            await ActivityEnvironment().run(compose_greeting, ComposeGreetingInput("Hello", ""))
        self.assertEqual(raised.exception.type, "InvalidInput")
        self.assertTrue(raised.exception.non_retryable)


if __name__ == "__main__":
    unittest.main()
