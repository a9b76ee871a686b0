// Judgements of the real-world corpus shared by the CLI-side and language-server corpus tests.

/**
 * Valid for ngrok, refused by the Burrow edge at bind time, so refused by the check too (the same
 * module code): prefix → [line of the offending value, the ngrok code]. ERR_NGROK_7166: OAuth
 * without your own app (Burrow has no managed apps); 2201: actions Burrow lacks (forward-internal,
 * log); 364: a webhook provider Burrow lacks; 2204/2234: `<redacted>` and empty placeholder values.
 */
export const MODULE_REFUSED: Record<string, [number, string]> = {
  '045': [10, 'ERR_NGROK_7166'],
  '088': [28, 'ERR_NGROK_2201'],
  '104': [78, 'ERR_NGROK_7166'],
  '106': [8, 'ERR_NGROK_7166'],
  '121': [16, 'ERR_NGROK_7166'],
  '131': [30, 'ERR_NGROK_2201'],
  'policy-006': [10, 'ERR_NGROK_7166'],
  'policy-009': [7, 'ERR_NGROK_7166'],
  'policy-024': [20, 'ERR_NGROK_2201'],
  'policy-030': [5, 'ERR_NGROK_364'],
  'policy-067': [14, 'ERR_NGROK_7166'],
  'policy-116': [7, 'ERR_NGROK_7166'],
  'policy-128': [9, 'ERR_NGROK_2204'],
  'policy-146': [6, 'ERR_NGROK_2234'],
  'policy-147': [3, 'ERR_NGROK_2201'],
};
