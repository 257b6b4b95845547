import { createEmbeddedApplicationRegistry, REST_APPLICATION } from "@flowstore/mastership";

// One per process, shared by its nodes; across processes, one per process against etcd:
// `await createEtcdApplicationRegistry({ endpoints: ["http://127.0.0.1:2379"] })`.
const apps = createEmbeddedApplicationRegistry();
const id = await apps.register(REST_APPLICATION); // 1 on every node
console.log(id, apps.nameOf(id)); // 1 "org.onosproject.rest"
console.log(await apps.register("org.example.app"), await apps.register(REST_APPLICATION)); // 2 1
