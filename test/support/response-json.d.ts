// Tests read many JSON bodies and assert on their shape; typing each as `unknown` adds casts
// without adding safety, so in tests Response.json() is `any` (the app code is not affected).
declare global {
  interface Response {
    // eslint-disable-next-line @typescript-eslint/no-explicit-any
    json(): Promise<any>;
  }
}
export {};
