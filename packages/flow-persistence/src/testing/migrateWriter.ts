// A process that opens a data directory (migrating a format 1 one), for the crash test to
// kill in the middle of the migration.
//
//   node --conditions=@flowstore/source --import tsx src/testing/migrateWriter.ts <dir>
//
// It prints "opening" before it opens the directory, and "migrated" once it is open.
import { FlowPersistence } from "../flowPersistence.js";

const dir = process.argv[2];
if (dir === undefined) throw new Error("usage: migrateWriter.ts <dir>");
process.stdout.write("opening\n");
const persistence = await FlowPersistence.open({ dir, cluster: "crash", node: "n1" });
process.stdout.write("migrated\n");
await persistence.close();
