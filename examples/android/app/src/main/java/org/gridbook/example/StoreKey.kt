package org.gridbook.example

import android.content.Context
import android.security.keystore.KeyGenParameterSpec
import android.security.keystore.KeyProperties
import java.io.File
import java.security.KeyStore
import java.security.SecureRandom
import javax.crypto.Cipher
import javax.crypto.KeyGenerator
import javax.crypto.SecretKey
import javax.crypto.spec.GCMParameterSpec

/**
 * The key of the phone's encrypted Gridbook store.
 *
 * The store key is 32 random bytes, given to `Phone.open` as 64 hex characters (a raw
 * SQLCipher key: the fastest open). It never leaves the phone and is kept only wrapped: an
 * AES-256-GCM key that lives in the Android Keystore (hardware-backed where the phone has it,
 * never readable by the app) encrypts it into a file of the app's no-backup folder. Losing
 * either makes the store unreadable: the app then deletes the store, signs in again and syncs
 * (edits not yet sent are lost), as `GridbookException.WrongKey` documents.
 */
object StoreKey {
    private const val ALIAS = "gridbook-store-key"
    private const val IV_BYTES = 12
    private const val TAG_BITS = 128

    fun get(context: Context): String {
        val file = File(context.noBackupFilesDir, "gridbook-store-key.bin")
        val wrapping = wrappingKey()
        if (file.exists()) {
            val sealed = file.readBytes()
            val cipher = Cipher.getInstance("AES/GCM/NoPadding")
            cipher.init(Cipher.DECRYPT_MODE, wrapping, GCMParameterSpec(TAG_BITS, sealed, 0, IV_BYTES))
            return cipher.doFinal(sealed, IV_BYTES, sealed.size - IV_BYTES).toHex()
        }
        val key = ByteArray(32).also { SecureRandom().nextBytes(it) }
        val cipher = Cipher.getInstance("AES/GCM/NoPadding")
        cipher.init(Cipher.ENCRYPT_MODE, wrapping) // the Keystore picks a fresh IV
        val sealed = cipher.iv + cipher.doFinal(key)
        val partial = File(file.path + ".partial")
        partial.writeBytes(sealed)
        check(partial.renameTo(file)) { "cannot save the store key" }
        return key.toHex()
    }

    private fun wrappingKey(): SecretKey {
        val keyStore = KeyStore.getInstance("AndroidKeyStore").apply { load(null) }
        (keyStore.getKey(ALIAS, null) as? SecretKey)?.let { return it }
        val generator = KeyGenerator.getInstance(KeyProperties.KEY_ALGORITHM_AES, "AndroidKeyStore")
        generator.init(
            KeyGenParameterSpec.Builder(ALIAS, KeyProperties.PURPOSE_ENCRYPT or KeyProperties.PURPOSE_DECRYPT)
                .setBlockModes(KeyProperties.BLOCK_MODE_GCM)
                .setEncryptionPaddings(KeyProperties.ENCRYPTION_PADDING_NONE)
                .setKeySize(256)
                .build(),
        )
        return generator.generateKey()
    }

    private fun ByteArray.toHex(): String = joinToString("") { "%02x".format(it) }
}
