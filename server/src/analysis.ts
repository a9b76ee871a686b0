// What the language service knows about one document version; every feature reads it. Its own
// file so the features and the service that calls them do not import each other.
import type { Classification } from './classify';
import type { Split } from './incremental';
import type { Problem } from './problems';
import type { ParsedText } from './yamlText';

export interface Analysis {
  uri: string;
  version: number;
  text: string;
  classification: Classification;
  problems: Problem[];
  /** The document's value (`toJS()`), undefined when it does not parse to one. */
  value: unknown;
  /** The whole document with positions; parsed on first use (big configs are validated piecewise without it). */
  readonly parsed: ParsedText;
  /** Set when the document was validated piecewise: its pieces (see incremental.ts). */
  split?: Split;
}
