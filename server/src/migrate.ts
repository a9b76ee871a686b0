import type { MigrateToV3Result } from './protocol';
import type { ParsedText } from './yamlText';

export function migrateToV3(_parsed: ParsedText): MigrateToV3Result {
  return { reason: 'not implemented yet' };
}
