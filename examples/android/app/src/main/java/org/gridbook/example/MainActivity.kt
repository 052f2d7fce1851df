package org.gridbook.example

import android.os.Bundle
import android.widget.TextView
import androidx.activity.ComponentActivity
import androidx.lifecycle.lifecycleScope
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.launch
import kotlinx.coroutines.withContext
import org.gridbook.mobile.GridbookException

/** Signs in (once), syncs off the main thread and shows what happened. */
class MainActivity : ComponentActivity() {
    override fun onCreate(savedInstanceState: Bundle?) {
        super.onCreate(savedInstanceState)
        val status = TextView(this).apply { text = "syncing…" }
        setContentView(status)

        lifecycleScope.launch {
            status.text = try {
                val summary = withContext(Dispatchers.IO) {
                    // A real app asks for these on its sign-in screen.
                    Gridbook.signIn(this@MainActivity, SERVER, LOGIN, PASSWORD)
                    Gridbook.sync(this@MainActivity)
                }
                "sent ${summary.accepted}, received ${summary.received}, " +
                    "${summary.pending} still pending, ${summary.rejected.size} refused"
            } catch (e: GridbookException.Network) {
                "offline; edits are kept and sent later (${e.reason})"
            } catch (e: GridbookException.Unauthorized) {
                "please sign in again"
            } catch (e: GridbookException.PasswordChangeRequired) {
                "choose a new password (Phone.changePassword)"
            } catch (e: GridbookException) {
                "sync failed: ${e.message}"
            }
        }
    }

    private companion object {
        const val SERVER = "https://gridbook.example.cn"
        const val LOGIN = "hp-dzk-01"
        const val PASSWORD = "change me"
    }
}
