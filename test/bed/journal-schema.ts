// A small schema for the database master's tests and benchmark: an append-only journal of
// (client, seq) writes. No UNIQUE constraint on purpose: a write applied twice would show.
import { defineSchema } from '../../appliance/dbmaster/index.js';

export default defineSchema({
  migrations: [
    {
      version: 1,
      name: 'journal',
      up: 'CREATE TABLE journal (id INTEGER PRIMARY KEY, client TEXT NOT NULL, seq INTEGER NOT NULL, at INTEGER NOT NULL)',
    },
    { version: 2, name: 'journal by client', up: 'CREATE INDEX journal_client ON journal (client, seq)' },
  ],
  operations: {
    append: {
      run: (db, args) => {
        const { client, seq } = args as { client: string; seq: number };
        const row = db.prepare('INSERT INTO journal (client, seq, at) VALUES (?, ?, ?)').run(client, seq, Date.now());
        return { id: Number(row.lastInsertRowid) };
      },
    },
    entries: {
      readOnly: true,
      run: (db) => db.prepare('SELECT client, seq FROM journal ORDER BY id').all(),
    },
    refuse: {
      run: () => {
        throw Object.assign(new Error('refused on purpose'), { code: 'TEST_ERR_REFUSED' });
      },
    },
  },
});
