// `npm run bench`: every table, measured in one run, side by side with Python.
import { isMainModule } from 'multiproc';
import { benchProcess } from './process.js';

if (isMainModule(import.meta)) {
  await benchProcess();
}
