/*
 * Uploads from the "Open a model and data" dialog go to the same HTTP API that pipelines
 * use (POST /api/models, /api/datasets), with XMLHttpRequest so a large file shows real
 * progress. The JSON answer is handed to Dash through the `upload-result` store.
 */
(function () {
  'use strict';

  function setProgress(kind, pct, text, ok) {
    const bar = document.querySelector(`#upload-${kind}-progress .progress-bar`);
    if (bar) {
      bar.style.width = `${pct}%`;
      bar.classList.toggle('bg-danger', ok === false);
      bar.classList.toggle('bg-success', ok === true);
    }
    const status = document.getElementById(`upload-${kind}-status`);
    if (status) {
      status.textContent = text;
      status.className = 'small mt-1 dl-upload-status' + (ok === false ? ' text-danger' : '');
    }
  }

  function upload(kind, file) {
    const url = kind === 'model' ? '/api/models' : '/api/datasets';
    const form = new FormData();
    form.append('file', file);
    const xhr = new XMLHttpRequest();
    xhr.open('POST', url);
    xhr.upload.onprogress = (ev) => {
      if (ev.lengthComputable) {
        const pct = Math.round((100 * ev.loaded) / ev.total);
        setProgress(kind, pct * 0.8, `uploading ${file.name}: ${pct}%`);
      }
    };
    xhr.upload.onload = () => setProgress(kind, 85, `checking and loading ${file.name}…`);
    xhr.onerror = () => setProgress(kind, 100, 'the upload failed: the server did not answer', false);
    xhr.onload = () => {
      let body = {};
      try { body = JSON.parse(xhr.responseText); } catch (e) { body = {error: xhr.statusText}; }
      if (xhr.status >= 200 && xhr.status < 300) {
        const s = body.summary || {};
        const what = kind === 'model'
          ? `${s.layers} layers, ${Number(s.parameters).toLocaleString()} parameters, input ${(s.input_shape || []).join('×')}`
          : (s.labelled === false
            // a flat folder: say what gives labels, not "0 classes"
            ? `${Number(s.images).toLocaleString()} unlabelled images of ${(s.image_shape || []).join('×')} ` +
              '(no <class>/ folders: they are coloured by prediction; put each class in a folder named for it to give labels)'
            : `${Number(s.images).toLocaleString()} images of ${(s.image_shape || []).join('×')}, ${(s.classes || []).length} classes`);
        setProgress(kind, 100, `${file.name}: ${what}. Press Open.`, true);
        window.dash_clientside.set_props('upload-result', {data: {kind, id: body.id, summary: s}});
      } else {
        setProgress(kind, 100, body.error || `HTTP ${xhr.status}`, false);
      }
    };
    setProgress(kind, 0, `uploading ${file.name}…`);
    xhr.send(form);
  }

  // One hidden file input per kind, made on first use (Dash has no file-input component
  // that posts to a URL); tests set files on it directly.
  function fileInput(kind, accept) {
    let input = document.getElementById(`upload-${kind}-file`);
    if (!input) {
      input = document.createElement('input');
      input.type = 'file';
      input.id = `upload-${kind}-file`;
      input.hidden = true;
      input.accept = accept;
      input.addEventListener('change', () => {
        if (input.files && input.files.length) upload(kind, input.files[0]);
        input.value = '';
      });
      document.body.appendChild(input);
    }
    return input;
  }

  document.addEventListener('click', (ev) => {
    const b = ev.target instanceof Element && ev.target.closest('[data-kind][data-accept]');
    if (b) fileInput(b.dataset.kind, b.dataset.accept).click();
  });
  window.Deepling = window.Deepling || {};
  window.Deepling.fileInput = fileInput;
})();
