/**
 * The ClipMask page: the editor (#/), a job (#/jobs/<id>) and the list of
 * recent jobs. Plain DOM; the server bundles this file (src/api/web.ts).
 */
import * as api from './api.js';
import { byId } from './dom.js';
import { Editor } from './editor.js';
import { JobView } from './job-view.js';
import { JobsList } from './jobs-list.js';

const app = byId('main', HTMLElement);
const editorSection = byId('editor', HTMLElement);

const jobsList = new JobsList();
const jobView = new JobView({
  onChanged: () => void jobsList.refresh(),
  onDeleted: () => {
    location.hash = '#/';
  },
});
const editor = new Editor({
  onSubmitted: (id) => {
    location.hash = `#/jobs/${encodeURIComponent(id)}`;
    void jobsList.refresh();
  },
});

function route(): void {
  const match = /^#\/jobs\/([^/?#]+)$/.exec(location.hash);
  if (match) {
    const id = decodeURIComponent(match[1]);
    app.dataset.view = 'job';
    editorSection.hidden = true;
    editor.visible = false;
    jobView.show(id);
    jobsList.setCurrent(id);
  } else {
    app.dataset.view = 'editor';
    jobView.hide();
    editorSection.hidden = false;
    editor.visible = true;
    jobsList.setCurrent(undefined);
  }
}

// API keys: only asked for when the server answers 401.
const keyForm = byId('key-form', HTMLFormElement);
const keyInput = byId('key-input', HTMLInputElement);
const keyMessage = byId('key-message', HTMLElement);
api.onUnauthorized((error) => {
  const wasHidden = keyForm.hidden;
  keyForm.hidden = false;
  keyMessage.textContent = api.hasApiKey() ? `The key was refused (${error.message}).` : '';
  if (wasHidden) keyInput.focus();
});
keyForm.addEventListener('submit', (event) => {
  event.preventDefault();
  api.setApiKey(keyInput.value);
  keyInput.value = '';
  keyForm.hidden = true;
  void jobsList.refresh();
  route();
});

window.addEventListener('hashchange', route);
route();
void jobsList.refresh();
app.dataset.ready = 'true';
