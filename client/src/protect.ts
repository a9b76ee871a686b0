// One-click protection: basic auth, OAuth, or none, applied live (stop + start the tunnel through
// the API with the edited definition, same URL), and for tunnels from ngrok.yml written back to
// the file as a reviewable edit (applied unsaved, with Save / Show Changes / Undo) that keeps comments.
import vscode = require('vscode');
import type { Ctx } from './ctx';
import {
  checkBasicAuth,
  generatePassword,
  oauthCallbackUrl,
  withProtection,
  type Protection,
} from './model/definitions';
import { applyProtection, minimalEdit, toFileProtection } from './ngrokYaml';
import { PROVIDER_GUIDES, parseAllowList } from './oauthProviders';
import { SECRET_KEYS } from './settings';

/** Applies `p` to tunnel `name`: live, then (if it came from a file) proposes the same file edit. */
export async function applyProtectionLive(ctx: Ctx, name: string, p: Protection, label: string): Promise<void> {
  const { def, lost } = ctx.definitionOf(name);
  if (lost.length) {
    const go = await vscode.window.showWarningMessage(
      `Burrow: "${name}" was started outside this window; restarting it drops: ${lost.join(', ')}.`,
      { modal: true },
      'Continue',
    );
    if (go !== 'Continue') return;
  }
  await vscode.window.withProgress(
    { location: vscode.ProgressLocation.Notification, title: `Burrow: ${label} on ${name}…` },
    () => ctx.replaceTunnel(name, withProtection(def, p)),
  );
  const file = ctx.fromConfig.get(name);
  // Not awaited: the review notification waits for the user; the live change is already done.
  if (file) void proposeFileEdit(ctx, file, name, p, label);
}

/**
 * The same change in ngrok.yml, as a WorkspaceEdit left unsaved for review: the changed lines are
 * selected in the editor, and the notification offers Save, Show Changes (diff with the file on
 * disk) and Undo. (The refactor preview's `needsConfirmation` starts unticked, which made
 * "Apply" do nothing until the user found the checkbox.)
 */
export async function proposeFileEdit(
  ctx: Ctx,
  file: vscode.Uri,
  name: string,
  p: Protection,
  label: string,
): Promise<boolean> {
  const doc = await vscode.workspace.openTextDocument(file);
  const before = doc.getText();
  let after: string;
  try {
    after = applyProtection(before, name, toFileProtection(p));
  } catch (err) {
    ctx.output.warn(`not writing ${file.fsPath}: ${(err as Error).message}`);
    void vscode.window.showWarningMessage(
      `Burrow: applied live, but ${vscode.workspace.asRelativePath(file)} was not changed: ${(err as Error).message}`,
    );
    return false;
  }
  const change = minimalEdit(before, after);
  if (!change) return false;
  const edit = new vscode.WorkspaceEdit();
  edit.replace(file, new vscode.Range(doc.positionAt(change.start), doc.positionAt(change.end)), change.text, {
    label: `${label} (${name})`,
    description: 'Burrow',
    needsConfirmation: false,
  });
  if (!(await vscode.workspace.applyEdit(edit))) return false;
  const changed = new vscode.Range(doc.positionAt(change.start), doc.positionAt(change.start + change.text.length));
  const editor = await vscode.window.showTextDocument(doc, { preview: false, preserveFocus: true });
  editor.selection = new vscode.Selection(changed.start, changed.end);
  editor.revealRange(changed, vscode.TextEditorRevealType.InCenterIfOutsideViewport);
  const rel = vscode.workspace.asRelativePath(file);
  void vscode.window
    .showInformationMessage(
      `Burrow: the same change is written to ${rel} (not saved yet).`,
      'Save',
      'Show Changes',
      'Undo',
    )
    .then(async (pick) => {
      if (pick === 'Save') await doc.save();
      if (pick === 'Show Changes')
        await vscode.commands.executeCommand('workbench.files.action.compareWithSaved', file);
      if (pick === 'Undo') {
        const undo = new vscode.WorkspaceEdit();
        undo.replace(file, changed, before.slice(change.start, change.end));
        await vscode.workspace.applyEdit(undo);
      }
    });
  return true;
}

export async function protectBasicAuth(ctx: Ctx, name: string): Promise<void> {
  const how = await vscode.window.showQuickPick(
    [
      { label: '$(key) Generate a strong password', id: 'generate' },
      { label: '$(edit) Enter a password…', id: 'enter' },
    ],
    { title: `Burrow: Protect ${name} with Basic Auth` },
  );
  if (!how) return;
  const username = await vscode.window.showInputBox({
    title: 'User name',
    value: 'burrow',
    validateInput: (u) => (u && !u.includes(':') ? undefined : 'not empty, no ":"'),
  });
  if (!username) return;
  let password = generatePassword();
  if (how.id === 'enter') {
    const typed = await vscode.window.showInputBox({
      title: 'Password (8 to 128 characters)',
      password: true,
      validateInput: (p) => checkBasicAuth(username, p),
    });
    if (!typed) return;
    password = typed;
  }
  await applyProtectionLive(ctx, name, { kind: 'basic-auth', username, password }, 'Protect with Basic Auth');
  await rememberCredentials(ctx, name, `${username}:${password}`);
  const copied = await vscode.env.clipboard.writeText(`${username}:${password}`).then(
    () => true,
    () => false,
  );
  // Short, so the toast is never cut; "Copy Credentials" on the tunnel copies them again.
  void vscode.window
    .showInformationMessage(
      copied ? `Burrow: ${name} is protected. Credentials copied.` : `Burrow: ${name} is protected.`,
      'Copy Credentials',
    )
    .then((pick) => {
      if (pick) void vscode.commands.executeCommand('burrow.copyCredentials', name);
    });
}

/** Keeps `user:password` in SecretStorage, so "Copy Credentials" works after the clipboard moved on. */
export async function rememberCredentials(ctx: Ctx, name: string, credentials: string): Promise<void> {
  await ctx.ext.secrets.store(SECRET_KEYS.basicAuth(name), credentials);
}

export async function forgetCredentials(ctx: Ctx, name: string): Promise<void> {
  await ctx.ext.secrets.delete(SECRET_KEYS.basicAuth(name));
}

/** The basic-auth `user:password` of a tunnel, if this window set it (SecretStorage or ngrok.yml). */
export async function basicAuthCredentials(ctx: Ctx, name: string): Promise<string | undefined> {
  const stored = await ctx.ext.secrets.get(SECRET_KEYS.basicAuth(name));
  if (stored) return stored;
  const known = ctx.definitions.get(name)?.basic_auth;
  return Array.isArray(known) && typeof known[0] === 'string' ? known[0] : undefined;
}

export async function protectOAuth(ctx: Ctx, name: string): Promise<void> {
  const tunnel = ctx.state.tunnels.get(name);
  if (!tunnel) throw new Error(`tunnel "${name}" is not running`);
  const provider = await vscode.window.showQuickPick(
    PROVIDER_GUIDES.map((g) => ({ label: g.label, description: g.id, guide: g })),
    {
      title: `Burrow: Protect ${name} with OAuth`,
      placeHolder: 'Sign in with…',
    },
  );
  if (!provider) return;
  const guide = provider.guide;
  // In a codespace public_url is already the forwarded URL of the tunnel's own port.
  const callback = oauthCallbackUrl(tunnel.public_url);
  await vscode.env.clipboard.writeText(callback);
  const step = await vscode.window.showInformationMessage(
    `Create a ${guide.label} OAuth app with this ${guide.redirectField}: ${callback} (copied).`,
    {
      modal: true,
      detail: `Burrow has no shared ${guide.label} app: register your own, then paste its client ID and secret. The secret is kept in VS Code's SecretStorage, never in settings or ngrok.yml.`,
    },
    `Open ${guide.label} Console`,
    'I Have the Client ID',
  );
  if (!step) return;
  if (step.startsWith('Open')) await vscode.env.openExternal(vscode.Uri.parse(guide.consoleUrl));
  const clientId = await vscode.window.showInputBox({
    title: `${guide.label} client ID`,
    ignoreFocusOut: true,
    validateInput: (v) => (v.trim() ? undefined : 'required'),
  });
  if (!clientId) return;
  const secretKey = SECRET_KEYS.oauthClientSecret(guide.id, clientId.trim());
  const known = await ctx.ext.secrets.get(secretKey);
  const clientSecret = await vscode.window.showInputBox({
    title: `${guide.label} client secret`,
    password: true,
    ignoreFocusOut: true,
    placeHolder: known ? 'Enter to keep the stored secret' : '',
    validateInput: (v) => (v || known ? undefined : 'required'),
  });
  if (clientSecret === undefined) return;
  const allow = await vscode.window.showInputBox({
    title: 'Who may sign in? (optional)',
    ignoreFocusOut: true,
    prompt:
      'Email addresses and/or domains, separated by spaces or commas (ann@example.com, @example.org). Empty: anyone with an account.',
  });
  if (allow === undefined) return;
  const { emails, domains } = parseAllowList(allow);
  const secret = clientSecret || known!;
  await ctx.ext.secrets.store(secretKey, secret);
  await applyProtectionLive(
    ctx,
    name,
    {
      kind: 'oauth',
      provider: guide.id,
      clientId: clientId.trim(),
      clientSecret: secret,
      allowEmails: emails,
      allowDomains: domains,
    },
    'Protect with OAuth',
  );
  await forgetCredentials(ctx, name);
  void vscode.window
    .showInformationMessage(
      `Burrow: ${name} now requires a ${guide.label} login${emails.length || domains.length ? ` (${[...emails, ...domains.map((d) => `@${d}`)].join(', ')})` : ''}. Callback URL: ${callback}`,
      'Copy Callback URL',
    )
    .then((b) => {
      if (b) void vscode.env.clipboard.writeText(callback);
    });
}

export async function removeProtection(ctx: Ctx, name: string): Promise<void> {
  await applyProtectionLive(ctx, name, { kind: 'none' }, 'Remove Protection');
  await forgetCredentials(ctx, name);
  void vscode.window.showInformationMessage(`Burrow: ${name} is open again (no login).`);
}
