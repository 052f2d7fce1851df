package org.gridbook.example

import android.content.Context
import android.os.Build
import java.io.File
import org.gridbook.mobile.Account
import org.gridbook.mobile.Phone
import org.gridbook.mobile.SyncSummary

/**
 * The one `Phone` of this installation, opened on first use and kept for the app's life.
 *
 * Every call of `Phone` blocks (disk, and the network for `login`, `sync`, `logout`): make
 * them from a background thread, e.g. `withContext(Dispatchers.IO) { ... }`, never from the
 * main thread. A `Phone` may be shared between threads.
 */
object Gridbook {
    @Volatile private var phone: Phone? = null

    fun phone(context: Context): Phone =
        phone ?: synchronized(this) {
            phone ?: Phone.open(
                File(context.filesDir, "gridbook.db").path,
                StoreKey.get(context.applicationContext),
            ).also { phone = it }
        }

    /** Signs in unless a session is kept already (it survives restarts). */
    fun signIn(context: Context, server: String, login: String, password: String): Account =
        phone(context).account() ?: phone(context).login(server, login, password, Build.MODEL)

    /** Sends pending edits and fetches what changed; `Network` means "try again later". */
    fun sync(context: Context): SyncSummary = phone(context).sync()
}
