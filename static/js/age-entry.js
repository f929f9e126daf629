// The one third-party library of the browser code, re-exported so that build.rs
// can bundle exactly what our modules use into /assets/age.js. `bech32` is
// age-encryption's own dependency (it spells identities with it); lock.js uses
// it to carry an identity as its 32 bytes rather than its 74 characters.
export {
  Decrypter,
  Encrypter,
  generateX25519Identity,
  identityToRecipient,
} from "age-encryption";
export { bech32 } from "@scure/base";
