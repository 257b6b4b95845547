import { createNamespace, DecodeError } from "@flowstore/serializers";
import { z } from "zod";

const common = createNamespace("common").register(1, "NodeId", z.string().min(1)).build();
const store = createNamespace("store")
  .include(common) // composed, like ONOS's KryoNamespaces
  .register(100, "Digest", z.object({ bucket: z.number().int(), term: z.bigint() }))
  .build();

const digests = store.serializer("Digest"); // Serializer<{ bucket: number; term: bigint }>
const bytes = digests.encode({ bucket: 3, term: 2n ** 63n });
console.log(digests.decode(bytes)); // { bucket: 3, term: 9223372036854775808n }
console.log(store.decode(bytes)); // { type: "Digest", value: { bucket: 3, term: … } }
console.log(store.fingerprint); // "9c1e…" (16 hex digits): compared in the cluster handshake
try {
  store.serializer("NodeId").decode(bytes); // the bytes hold a Digest
} catch (error) {
  if (error instanceof DecodeError) console.log(error.code); // "WRONG_TYPE"
}
