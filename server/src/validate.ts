// Diagnostics for one document: the validator shared with `burrow config check`
// (tunnel/src/config) for ngrok configs and traffic-policy files, ajv against an edge schema for
// edge JSON (only when a `schemas/edge-*.schema.json` exists), plus this server's semantic checks.
import type { Problem } from './problems';
import { mergeProblems } from './problems';
import { semanticChecks } from './semantic';
import type { Classification } from './classify';
import type { ParsedText } from './yamlText';
import type { SchemaStore } from './schemaModel';
import { schemaProblems } from './configCheck';

export interface ValidateInput {
  uri: string;
  parsed: ParsedText;
  classification: Classification;
  schemas: SchemaStore;
}

export function validate(input: ValidateInput): Problem[] {
  const { parsed, classification } = input;
  if (classification.kind === 'none') {
    // Named like an ngrok file but something else (docker-compose, Kubernetes, Ansible): one hint
    // on the first line instead of a flood of false errors.
    if (!classification.foreign) return [];
    const first = firstContentOffset(parsed.text);
    const end = parsed.text.indexOf('\n', first);
    return [
      {
        start: first,
        end: end < 0 ? parsed.text.length : end,
        message: `Not checked by Burrow: this looks like ${classification.foreign}. To check it anyway, associate the file with \`ngrok-config\` in the \`burrow.languageServer.associations\` setting.`,
        code: 'BURROW_LSP_NOT_NGROK',
        severity: 'information',
        source: 'semantic',
      },
    ];
  }
  const schema = schemaProblems(input);
  if (classification.kind === 'edge-json') return schema;
  // Semantic checks need a tree; on a syntax error the parser's message is the useful one.
  const broken = schema.some((p) => p.source === 'syntax' && p.severity === 'error');
  const semantic = broken
    ? []
    : semanticChecks({
        doc: parsed.doc,
        text: parsed.text,
        kind: classification.kind,
        version: classification.configVersion ?? '2',
      });
  return mergeProblems(schema, semantic);
}

/** Offset of the first line that is neither blank, a comment nor a `---` marker. */
function firstContentOffset(text: string): number {
  const m = /^(?:[ \t]*(?:#.*|---[ \t]*)?\r?\n)*/.exec(text);
  return m ? m[0].length : 0;
}
