export default function (component) {
  const root = component.parentElement;
  const box = root.querySelector('.cl-share');
  if (!box || box.dataset.ready) return;  // mounted once; later reruns keep the same DOM
  box.dataset.ready = '1';
  const open = box.querySelector('.cl-open');
  const panel = box.querySelector('.cl-panel');
  const classroom = box.querySelector('.cl-classroom');
  const field = box.querySelector('.cl-link');
  const status = box.querySelector('.cl-status');
  const link = () => {
    const url = new URL(window.location.href);
    if (classroom.checked) url.searchParams.set('classroom', '1');
    else url.searchParams.delete('classroom');
    return url.toString();
  };
  const refresh = () => { field.value = link(); status.textContent = ''; };
  open.addEventListener('click', () => {
    panel.hidden = !panel.hidden;
    open.setAttribute('aria-expanded', String(!panel.hidden));
    if (!panel.hidden) {
      classroom.checked = new URL(window.location.href).searchParams.get('classroom') === '1';
      refresh();
      field.select();
    }
  });
  classroom.addEventListener('change', refresh);
  box.querySelector('.cl-copy').addEventListener('click', async () => {
    refresh();
    try {
      await navigator.clipboard.writeText(field.value);
      status.textContent = 'Copied.';
    } catch (err) {  // no clipboard API over plain http: select it for Ctrl+C
      field.focus();
      field.select();
      status.textContent = 'Selected: press Ctrl+C (⌘C) to copy.';
    }
  });
}
