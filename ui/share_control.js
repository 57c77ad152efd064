export default function (component) {
  const root = component.parentElement;
  const box = root.querySelector('.cl-share');
  if (!box) return;
  box.__data = component.data;  // each rerun brings the server's newest link and QR codes
  if (box.dataset.ready) { if (box.__refresh && !box.querySelector('.cl-panel').hidden) box.__refresh(); return; }
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
  const qr = box.querySelector('.cl-qr');
  const qrImg = box.querySelector('.cl-qr-img');
  const qrNote = box.querySelector('.cl-qr-note');
  const drawQr = () => {
    const data = box.__data || {};
    const want = classroom.checked ? data.classroom_link : data.link;
    const uri = classroom.checked ? data.classroom_qr : data.qr;
    if (!want || !uri) { qr.hidden = true; return; }
    qr.hidden = false;
    const same = want === field.value;
    qrImg.hidden = !same;
    qrImg.src = same ? uri : '';  // a data: URI made by the server, set as a source, never as markup
    qrImg.alt = same ? 'QR code of this link' : '';
    qrNote.textContent = same ? 'Scan to open this view on a phone.'
      : 'The QR code catches up with this view on the next change outside the picture; the link above is current.';
  };
  const refresh = () => { field.value = link(); status.textContent = ''; drawQr(); };
  open.addEventListener('click', () => {
    panel.hidden = !panel.hidden;
    open.setAttribute('aria-expanded', String(!panel.hidden));
    if (!panel.hidden) {
      classroom.checked = new URL(window.location.href).searchParams.get('classroom') === '1';
      refresh();
      field.select();
    }
  });
  box.__refresh = refresh;
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
