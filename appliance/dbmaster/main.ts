// The database master as a process of its own: `node dist/appliance/dbmaster/main.js CONFIG_JSON`
// (the tests' way; operators and the agent run `rackseed db master`). See runMasterProcess.
import { type MasterProcessConfig, runMasterProcess } from './process.js';

await runMasterProcess(JSON.parse(process.argv[2] ?? '{}') as MasterProcessConfig);
process.exit(0);
