// Compiled eBPF objects are embedded in the executable (`with { type: "file" }` gives their path,
// inside the binary's own file system once compiled).
declare module "*.o" {
  const path: string;
  export default path;
}
