// Judgements of the real-world corpus shared by the CLI-side and language-server corpus tests.

/**
 * Valid for ngrok, refused by the Burrow edge at bind time, so refused by the check too (the same
 * module code): prefix → [line of the offending value, the ngrok code]. ERR_NGROK_7043: placeholder
 * emails (`<email>`, `${ALLOWED_EMAIL}`) ngrok refuses at start too; 364: a webhook provider Burrow lacks; 2204/2234: `<redacted>` and empty placeholder values.
 * Managed OAuth (no client id) and forward-internal are accepted: the edge decides at bind time.
 */
export const MODULE_REFUSED: Record<string, [number, string]> = {
  '045': [11, 'ERR_NGROK_7043'],
  '106': [10, 'ERR_NGROK_7043'],
  'policy-030': [5, 'ERR_NGROK_364'],
  'policy-128': [9, 'ERR_NGROK_2204'],
  'policy-146': [6, 'ERR_NGROK_2234'],
};
