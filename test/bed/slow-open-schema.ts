// A schema whose first migration takes 1.5 s: a master elected with it stays `opening` that
// long, for the tests of what a call meets meanwhile.
import { defineSchema } from '../../appliance/dbmaster/index.js';

export default defineSchema({
  migrations: [
    {
      version: 1,
      name: 'slow',
      up: (db) => {
        Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 1_500); // the worker thread may block
        db.exec('CREATE TABLE notes (id INTEGER PRIMARY KEY, text TEXT NOT NULL)');
      },
    },
  ],
  operations: {
    note: {
      run: (db, args) => ({
        id: Number(db.prepare('INSERT INTO notes (text) VALUES (?)').run(String(args)).lastInsertRowid),
      }),
    },
  },
});
