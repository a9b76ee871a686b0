// Diagnostics for one document: the validator shared with `burrow config check`
// (tunnel/src/config: schema, semantics, each module's own option check) for ngrok configs and
// traffic-policy files, ajv against an edge schema for edge JSON (only when a
// `schemas/edge-*.schema.json` exists). The server has no checks of its own: one verdict.
import type { Problem } from './problems';
import { schemaProblems, type ValidateInput } from './configCheck';

export type { ValidateInput };

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
  return schemaProblems(input);
}

/** Offset of the first line that is neither blank, a comment nor a `---` marker. */
function firstContentOffset(text: string): number {
  const m = /^(?:[ \t]*(?:#.*|---[ \t]*)?\r?\n)*/.exec(text);
  return m ? m[0].length : 0;
}
