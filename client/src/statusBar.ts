// The status bar item. Activation creates it with its idle look (extension.ts, before the rest of
// the extension is loaded); Ctx takes it over and renders the agent's state into it.
import vscode = require('vscode');

export const STOPPED = {
  text: '$(broadcast) Burrow',
  tooltip: 'Burrow: no agent running. Click to open the Tunnels view.',
};

export function createStatusBar(): vscode.StatusBarItem {
  const s = vscode.window.createStatusBarItem('burrow.status', vscode.StatusBarAlignment.Left, 10);
  s.name = 'Burrow';
  s.command = 'burrow.tunnels.focus';
  s.text = STOPPED.text;
  s.tooltip = STOPPED.tooltip;
  s.show();
  return s;
}
