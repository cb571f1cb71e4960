package gdpr

import (
	"fmt"
	"strings"
	"time"
)

// DraftExtensionNotice drafts the message that tells a customer their request will
// take longer, as Art. 12(3) requires within the first month: that it is extended,
// until when (the end of newDue's day in the company's time zone loc) and why. An
// empty reason becomes the Regulation's own ground, the complexity and number of
// requests; an empty name a plain greeting. lang is "en" (the default), "de", "fr",
// "es" or "it"; a region ("de-AT") is ignored.
func DraftExtensionNotice(lang string, contactName string, newDue time.Time, reason string, loc *time.Location) string {
	loc = orUTC(loc)
	t := draftTexts[baseLang(lang)]
	reason = strings.TrimSpace(reason)
	if reason == "" {
		reason = t.defaultReason
	}
	reason = strings.TrimRight(reason, ".")
	day := formatDate(t.lang, newDue.In(loc))
	if name := loc.String(); name != "Local" {
		day += " (" + name + ")"
	}
	return greeting(t, contactName) + "\n\n" + fmt.Sprintf(t.extension, day, reason) + "\n\n" + t.closing
}

// DraftErasureConfirmation drafts the message that confirms an erasure under Art. 17.
// Send it before the erasure removes the contact's address, or capture the address
// first: afterwards Kibo no longer knows where to send it.
func DraftErasureConfirmation(lang, name string) string {
	t := draftTexts[baseLang(lang)]
	return greeting(t, name) + "\n\n" + t.erasure + "\n\n" + t.closing
}

func baseLang(lang string) string {
	l := strings.ToLower(strings.TrimSpace(lang))
	if i := strings.IndexAny(l, "-_"); i >= 0 {
		l = l[:i]
	}
	if _, ok := draftTexts[l]; ok {
		return l
	}
	return "en"
}

func greeting(t draftText, name string) string {
	name = strings.TrimSpace(name)
	if name == "" {
		return t.hello + ","
	}
	return fmt.Sprintf(t.helloName, name)
}

type draftText struct {
	lang          string
	hello         string
	helloName     string // %s: name
	extension     string // %s: date, %s: reason
	defaultReason string
	erasure       string
	closing       string
	months        [12]string
}

var draftTexts = map[string]draftText{
	"en": {
		lang: "en", hello: "Hello", helloName: "Hello %s,",
		extension: "Thank you for your data protection request. We are working on it, but we need more time to answer it completely: " +
			"as Article 12(3) of the GDPR allows, we are extending the time limit, and will answer by %s at the latest. " +
			"The reason: %s.\n\nIf you have any questions in the meantime, just reply to this message.",
		defaultReason: "the complexity and number of the requests we are handling",
		erasure: "As you asked, we have erased your personal data under Article 17 of the GDPR: your profile, your conversations and messages on every channel, and their attachments. " +
			"We keep only a record that an erasure took place and when, without any of your personal data, so that we can show we handled your request. " +
			"This is the last message you will receive from us about it; if you contact us again, we will not know you.",
		closing: "Kind regards",
		months:  [12]string{"January", "February", "March", "April", "May", "June", "July", "August", "September", "October", "November", "December"},
	},
	"de": {
		lang: "de", hello: "Guten Tag", helloName: "Guten Tag %s,",
		extension: "vielen Dank für Ihre Datenschutzanfrage. Wir bearbeiten sie, brauchen aber mehr Zeit, um sie vollständig zu beantworten: " +
			"Wie Art. 12 Abs. 3 DSGVO es erlaubt, verlängern wir die Frist und antworten Ihnen spätestens bis zum %s. " +
			"Der Grund: %s.\n\nWenn Sie in der Zwischenzeit Fragen haben, antworten Sie einfach auf diese Nachricht.",
		defaultReason: "die Komplexität und die Anzahl der Anfragen, die wir bearbeiten",
		erasure: "wie von Ihnen gewünscht, haben wir Ihre personenbezogenen Daten nach Art. 17 DSGVO gelöscht: Ihr Profil, Ihre Unterhaltungen und Nachrichten auf allen Kanälen und deren Anhänge. " +
			"Wir bewahren nur einen Vermerk auf, dass und wann eine Löschung stattgefunden hat, ohne Ihre personenbezogenen Daten, damit wir die Erledigung Ihrer Anfrage nachweisen können. " +
			"Dies ist unsere letzte Nachricht dazu; wenn Sie sich wieder an uns wenden, kennen wir Sie nicht mehr.",
		closing: "Mit freundlichen Grüßen",
		months:  [12]string{"Januar", "Februar", "März", "April", "Mai", "Juni", "Juli", "August", "September", "Oktober", "November", "Dezember"},
	},
	"fr": {
		lang: "fr", hello: "Bonjour", helloName: "Bonjour %s,",
		extension: "Merci pour votre demande relative à vos données personnelles. Nous la traitons, mais il nous faut plus de temps pour y répondre complètement : " +
			"comme le permet l'article 12, paragraphe 3, du RGPD, nous prolongeons le délai et vous répondrons au plus tard le %s. " +
			"Motif : %s.\n\nSi vous avez des questions d'ici là, il vous suffit de répondre à ce message.",
		defaultReason: "la complexité et le nombre des demandes que nous traitons",
		erasure: "Comme vous l'avez demandé, nous avons effacé vos données personnelles en application de l'article 17 du RGPD : votre profil, vos conversations et messages sur tous les canaux, ainsi que leurs pièces jointes. " +
			"Nous conservons uniquement la trace qu'un effacement a eu lieu et sa date, sans aucune de vos données personnelles, afin de pouvoir démontrer que votre demande a été traitée. " +
			"Ceci est notre dernier message à ce sujet ; si vous nous recontactez, nous ne vous connaîtrons plus.",
		closing: "Cordialement",
		months:  [12]string{"janvier", "février", "mars", "avril", "mai", "juin", "juillet", "août", "septembre", "octobre", "novembre", "décembre"},
	},
	"es": {
		lang: "es", hello: "Hola", helloName: "Hola, %s:",
		extension: "Gracias por su solicitud sobre sus datos personales. Estamos trabajando en ella, pero necesitamos más tiempo para responderla por completo: " +
			"tal como permite el artículo 12, apartado 3, del RGPD, prorrogamos el plazo y le responderemos a más tardar el %s. " +
			"El motivo: %s.\n\nSi tiene cualquier pregunta mientras tanto, basta con responder a este mensaje.",
		defaultReason: "la complejidad y el número de solicitudes que estamos atendiendo",
		erasure: "Tal como nos pidió, hemos suprimido sus datos personales conforme al artículo 17 del RGPD: su perfil, sus conversaciones y mensajes en todos los canales y sus archivos adjuntos. " +
			"Solo conservamos constancia de que se realizó una supresión y de cuándo, sin ninguno de sus datos personales, para poder demostrar que atendimos su solicitud. " +
			"Este es nuestro último mensaje al respecto; si vuelve a contactarnos, no le reconoceremos.",
		closing: "Un saludo cordial",
		months:  [12]string{"enero", "febrero", "marzo", "abril", "mayo", "junio", "julio", "agosto", "septiembre", "octubre", "noviembre", "diciembre"},
	},
	"it": {
		lang: "it", hello: "Buongiorno", helloName: "Gentile %s,",
		extension: "grazie per la sua richiesta relativa ai dati personali. La stiamo trattando, ma ci serve più tempo per rispondere in modo completo: " +
			"come consente l'articolo 12, paragrafo 3, del GDPR, proroghiamo il termine e le risponderemo entro il %s. " +
			"Il motivo: %s.\n\nSe nel frattempo ha domande, risponda pure a questo messaggio.",
		defaultReason: "la complessità e il numero delle richieste che stiamo gestendo",
		erasure: "come da lei richiesto, abbiamo cancellato i suoi dati personali ai sensi dell'articolo 17 del GDPR: il suo profilo, le sue conversazioni e i messaggi su tutti i canali e i relativi allegati. " +
			"Conserviamo soltanto l'annotazione che una cancellazione è avvenuta e quando, senza alcuno dei suoi dati personali, per poter dimostrare di aver evaso la sua richiesta. " +
			"Questo è il nostro ultimo messaggio in merito; se ci contatterà di nuovo, non la riconosceremo.",
		closing: "Cordiali saluti",
		months:  [12]string{"gennaio", "febbraio", "marzo", "aprile", "maggio", "giugno", "luglio", "agosto", "settembre", "ottobre", "novembre", "dicembre"},
	},
}

// formatDate writes a date as people write it in lang: "28 April 2026",
// "28. April 2026", "28 avril 2026", "28 de abril de 2026", "28 aprile 2026".
func formatDate(lang string, t time.Time) string {
	month := draftTexts[lang].months[t.Month()-1]
	switch lang {
	case "de":
		return fmt.Sprintf("%d. %s %d", t.Day(), month, t.Year())
	case "es":
		return fmt.Sprintf("%d de %s de %d", t.Day(), month, t.Year())
	default:
		return fmt.Sprintf("%d %s %d", t.Day(), month, t.Year())
	}
}
