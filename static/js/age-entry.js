// The one third-party library of the browser code, re-exported so that build.rs
// can bundle exactly what our modules use into /assets/age.js.
export {
  Decrypter,
  Encrypter,
  generateX25519Identity,
  identityToRecipient,
} from "age-encryption";
