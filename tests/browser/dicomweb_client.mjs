// Drives a DICOMweb server with the dicomweb-client npm package (the library
// OHIF itself uses) under Node.js, XMLHttpRequest from the xhr2 package:
// QIDO-RS search at the three levels, series metadata, frames in three
// media types, and STOW-RS of one file. Prints one JSON line with what came
// back; frames go to files under --out for the caller (dicomweb_client_test.cpp)
// to compare with the stored data. Exits 1 with a message naming the call
// that failed.
//
//   node dicomweb_client.mjs --url http://127.0.0.1:PORT/dicom-web --patient-name NAME
//        --out DIR [--frames-of 3] [--stow FILE]
import { parseArgs } from 'node:util';
import { createRequire } from 'node:module';
import fs from 'node:fs';
import path from 'node:path';

const require = createRequire(import.meta.url);
const { values: args } = parseArgs({
  options: {
    url: { type: 'string' },
    'patient-name': { type: 'string' },
    out: { type: 'string' },
    'frames-of': { type: 'string', default: '3' },
    stow: { type: 'string' },
    'node-modules': { type: 'string' },
  },
});
for (const required of ['url', 'patient-name', 'out']) {
  if (!args[required]) {
    console.error(`dicomweb_client: --${required} is required`);
    process.exit(2);
  }
}
const load = (name) => require(args['node-modules'] ? `${args['node-modules']}/${name}` : name);
globalThis.XMLHttpRequest = load('xhr2');
const { api } = load('dicomweb-client');

const value = (dataset, tag) => {
  const element = dataset[tag];
  if (!element || !element.Value || element.Value.length === 0) return undefined;
  const v = element.Value[0];
  return typeof v === 'object' && v !== null && 'Alphabetic' in v ? v.Alphabetic : v;
};
const errorText = (e) => {
  if (e && e.request) return `HTTP ${e.request.status} ${e.request.statusText || ''} ${e.message || ''}`.trim();
  return String(e && e.message ? e.message : e);
};

const client = new api.DICOMwebClient({ url: args.url });
const report = { ok: false };
let step = 'searchForStudies';
try {
  fs.mkdirSync(args.out, { recursive: true });
  const studies = await client.searchForStudies({ queryParams: { PatientName: args['patient-name'] } });
  report.studies = studies.map((s) => ({
    study_uid: value(s, '0020000D'),
    patient_name: value(s, '00100010'),
    patient_id: value(s, '00100020'),
    series_count: value(s, '00201206'),
    instance_count: value(s, '00201208'),
    modalities: s['00080061'] ? s['00080061'].Value : [],
  }));
  if (studies.length === 0) throw new Error(`no study of patient ${args['patient-name']}`);
  const studyInstanceUID = report.studies[0].study_uid;

  step = 'searchForSeries';
  const series = await client.searchForSeries({ studyInstanceUID });
  report.series = series.map((s) => ({
    series_uid: value(s, '0020000E'),
    modality: value(s, '00080060'),
    instance_count: value(s, '00201209'),
  }));
  const seriesInstanceUID = report.series[0].series_uid;

  step = 'searchForInstances';
  const instances = await client.searchForInstances({ studyInstanceUID, seriesInstanceUID });
  report.instances = instances.map((i) => ({ sop_uid: value(i, '00080018'), number: value(i, '00200013') }));
  const limited = await client.searchForInstances({ studyInstanceUID, seriesInstanceUID, queryParams: { limit: 5, offset: 2 } });
  report.instances_limit_5_offset_2 = limited.map((i) => value(i, '00080018'));

  step = 'retrieveSeriesMetadata';
  const metadata = await client.retrieveSeriesMetadata({ studyInstanceUID, seriesInstanceUID });
  report.metadata = metadata.map((m) => ({
    sop_uid: value(m, '00080018'),
    transfer_syntax: value(m, '00020010'),
    rows: value(m, '00280010'),
    columns: value(m, '00280011'),
    pixel_data_bulk: Boolean(m['7FE00010'] && (m['7FE00010'].BulkDataURI || m['7FE00010'].InlineBinary)),
  }));

  // Frames of a few instances from the middle of the series, in the three
  // ways clients ask: as stored (OHIF's `transfer-syntax=*`), JPEG-LS by name,
  // and uncompressed (no media type: dicomweb-client's default).
  const asks = {
    as_stored: [{ mediaType: 'application/octet-stream', transferSyntaxUID: '*' }],
    jpegls: [{ mediaType: 'image/jls', transferSyntaxUID: '1.2.840.10008.1.2.4.80' }],
    uncompressed: undefined,
  };
  const middle = Math.floor(report.instances.length / 2);
  const chosen = report.instances.slice(middle, middle + Number(args['frames-of']));
  report.frames = [];
  for (const instance of chosen) {
    for (const [kind, mediaTypes] of Object.entries(asks)) {
      step = `retrieveInstanceFrames (${kind}) of ${instance.sop_uid}`;
      const parts = await client.retrieveInstanceFrames({
        studyInstanceUID, seriesInstanceUID, sopInstanceUID: instance.sop_uid, frameNumbers: [1], mediaTypes,
      });
      const file = path.join(args.out, `${instance.sop_uid}.${kind}.bin`);
      const bytes = Buffer.from(parts[0]);
      fs.writeFileSync(file, bytes);
      report.frames.push({ sop_uid: instance.sop_uid, kind, parts: parts.length, bytes: bytes.length, file });
    }
  }

  if (args.stow) {
    step = `storeInstances of ${args.stow}`;
    const data = fs.readFileSync(args.stow);
    try {
      const response = await client.storeInstances({
        datasets: [data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength)],
      });
      report.stow = { status: 'stored', response: typeof response === 'string' ? response.slice(0, 4000) : response };
    } catch (e) {
      const status = e && e.request ? e.request.status : 0;
      // Not served yet (the STOW-RS part of the server is not built in): the
      // caller decides whether that is a failure.
      report.stow = { status: 'failed', http_status: status, message: errorText(e) };
    }
  }
  report.ok = true;
} catch (e) {
  report.step = step;
  report.message = errorText(e);
  console.error(`dicomweb_client: ${step} failed: ${report.message}`);
}
console.log(JSON.stringify(report));
process.exit(report.ok ? 0 : 1);
