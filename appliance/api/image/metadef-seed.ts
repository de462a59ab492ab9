/**
 * The standard namespaces a new cloud's metadefs catalog starts with: those of Glance's own
 * (its etc/metadefs, which `glance-manage db_load_metadefs` loads) that are true of a rackseed
 * cloud, kept verbatim in ./metadefs/ (Apache-2.0, see its README.md). Only
 * operating-system.json: it describes the system an image holds, as any image may. Glance's
 * compute-* namespaces name image and flavor properties (hw_*, hypervisor_type, quotas…) that
 * rackseed's QEMU driver does not honour, so they are left out.
 */
import type { CloudDb } from '../../db/index.js';
import { namespaceContents, namespaceFields } from './metadef-views.js';
import operatingSystem from './metadefs/operating-system.json' with { type: 'json' };

const STANDARD: readonly Record<string, unknown>[] = [operatingSystem];

/**
 * Loads the standard namespaces, owned by `owner` (the admin project), as Glance's loader does:
 * once, into a catalog that has no resource type yet (its first association makes the first),
 * so that a namespace the admin deleted stays deleted.
 */
export async function seedMetadefs(db: CloudDb, owner: string): Promise<void> {
  if ((await db.metadefs.resourceTypes()).length > 0) return;
  const now = new Date().toISOString();
  for (const file of STANDARD) {
    const { resourceTypes, definitions } = namespaceContents(file, now);
    await db.metadefs.createNamespace(
      { ...namespaceFields(file, owner, now), resourceTypes, createdAt: now },
      definitions,
    );
  }
}
